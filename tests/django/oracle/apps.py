from django.apps import AppConfig


class OracleConfig(AppConfig):
    name = "tests.django.oracle"
    label = "oracle"
