"""Repository-wide pytest plugins: real-service fixtures shared by every pipeline's tests, and
how `make test` spreads the suite over pytest-xdist workers (the dev-only `mlops_testing`
package in tests/support)."""

pytest_plugins = ["mlops_testing"]
