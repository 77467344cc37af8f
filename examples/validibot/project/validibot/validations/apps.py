from django.apps import AppConfig


class Config(AppConfig):
    name = "validibot.validations"
    label = "validations"
