import pytest
from django.db import connection


@pytest.fixture(scope="module", autouse=True)
def migration_data_back_afterwards(django_db_setup, django_db_blocker):
    """The simulation commits for real (a worker reads what it wrote), so its teardown empties
    the database, and it is collected first (it is the longest test). The tests that follow
    on this process roll back instead of restoring, and need the rows the migrations wrote
    (groups, permissions, the chart of accounts): put them back once the module is done."""
    yield
    with django_db_blocker.unblock():
        connection.creation.deserialize_db_from_string(connection._test_serialized_contents)
