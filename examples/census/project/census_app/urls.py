"""Census's URLs are not part of the example."""

urlpatterns: list[object] = []
