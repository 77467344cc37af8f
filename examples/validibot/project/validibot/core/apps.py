from django.apps import AppConfig


class Config(AppConfig):
    name = "validibot.core"
    label = "core"
