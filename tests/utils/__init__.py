"""Helpers the tests import (the conftest files hold fixtures only)."""
