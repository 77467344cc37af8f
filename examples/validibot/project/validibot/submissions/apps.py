from django.apps import AppConfig


class Config(AppConfig):
    name = "validibot.submissions"
    label = "submissions"
