"""Repository-wide pytest plugins: real-service fixtures shared by every pipeline's tests
(the dev-only `mlops_testing` package in tests/support)."""

pytest_plugins = ["mlops_testing"]
