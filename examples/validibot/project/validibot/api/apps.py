from django.apps import AppConfig


class Config(AppConfig):
    name = "validibot.api"
    label = "api"
