"""lethe's admin pages in a real browser: Debian's headless Chromium, driven by Selenium
through Debian's chromedriver, on the shop project served by uvicorn on loopback. A superuser
logs in, places a hold with the admin form, releases it with a reason and reads a run's
counts; lethe's own CLI and audit chain then say what happened."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from tests.django_app.shop import AS_OF, POLICY, Shop, serving, uvicorn_argv

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PASSWORD = "pw-for-browser-tests-only"
# The ASGI application mounts lethe's endpoints too, and they refuse to start unauthenticated.
SERVED = POLICY + '\n[serve]\nbearer_tokens = ["shop-admin-browser-token-0123456789"]\n'


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Offline and quiet: no first-run, sync, component or background traffic.
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    # A named driver keeps Selenium Manager from looking for one to download.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def _submit(driver: WebDriver, name: str) -> None:
    """Click the submit button ``name`` and wait for the page it leads to."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.NAME, name).click()
    WebDriverWait(driver, 15).until(expected_conditions.staleness_of(page))


def _text(driver: WebDriver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def test_a_superuser_places_and_releases_a_hold_and_reads_a_runs_counts(
    shop: Shop, browser: WebDriver
) -> None:
    shop.seed()
    shop.env["SHOP_STATE_DB"] = str(shop.root / "lethe-state.db")
    shop.policy(SERVED.format(state="django://lethe", store="django://default"))
    made = shop.script(
        "from django.contrib.auth.models import User\n"
        f"User.objects.create_superuser('dpo', 'dpo@example.com', {PASSWORD!r})\n"
    )
    assert made.code == 0, made.err

    with serving(shop, uvicorn_argv(), "/admin/login/") as base:
        browser.get(base + "/admin/login/")
        browser.find_element(By.NAME, "username").send_keys("dpo")
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        page = browser.find_element(By.TAG_NAME, "html")
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        WebDriverWait(browser, 15).until(expected_conditions.staleness_of(page))
        assert "Site administration" in _text(browser)

        browser.get(base + "/admin/lethe/hold/add/")
        Select(browser.find_element(By.NAME, "dataset")).select_by_value("customers")
        browser.find_element(By.NAME, "item_key").send_keys("1")
        browser.find_element(By.NAME, "reason").send_keys("litigation 2024-17")
        _submit(browser, "_save")
        assert browser.current_url.endswith("/admin/lethe/hold/"), _text(browser)
        assert "litigation 2024-17" in _text(browser)

        held = shop.manage("lethe", "run", "closed-accounts", "--as-of", AS_OF)
        assert "Skipped, under hold: 1 customers" in held.out

        browser.find_element(By.CSS_SELECTOR, "#result_list a[href*='/change/']").click()
        WebDriverWait(browser, 15).until(
            expected_conditions.presence_of_element_located((By.NAME, "release"))
        )
        browser.find_element(By.NAME, "release").click()
        browser.find_element(By.NAME, "why").send_keys("case closed")
        _submit(browser, "_save")
        browser.get(base + "/admin/lethe/hold/?status=released")
        assert "litigation 2024-17" in _text(browser)

        run = shop.manage("lethe", "run", "closed-accounts", "--as-of", AS_OF)
        run_id = next(w for w in run.out.split() if w.startswith("run-"))
        browser.get(base + "/admin/lethe/run/")
        browser.find_element(By.LINK_TEXT, run_id).click()
        WebDriverWait(browser, 15).until(
            expected_conditions.url_contains(f"/admin/lethe/run/{run_id}/change/")
        )
        detail = _text(browser)
        assert "shop_order: 2" in detail  # Ada's two orders went with her
        assert "closed-accounts customers" in detail

    holds = json.loads(shop.manage("lethe", "hold", "list", "--all", "--json").out)
    assert [
        (h["dataset"], h["key"], h["placedBy"], h["releasedBy"], h["releaseReason"]) for h in holds
    ] == [("customers", "1", "dpo (Django admin)", "dpo (Django admin)", "case closed")]
    assert shop.manage("lethe", "audit", "verify").code == 0
    assert shop.rows("shop_customer", "id") == [(2,), (3,)]
