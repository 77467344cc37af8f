from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "census_app.surveys"
    label = "surveys"
