from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "checktick_app.surveys"
    label = "surveys"
