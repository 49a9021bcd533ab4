"""Repository-wide pytest plugins: real-service fixtures shared by every pipeline's tests."""

pytest_plugins = ["mlops_common.testing"]
