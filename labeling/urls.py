"""API routes under /api/v1/, grouped per resource."""

urlpatterns: list = []
