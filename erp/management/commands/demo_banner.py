"""`manage.py demo_banner`: tell the person who typed `make run` where to go and how to sign in."""

import os

from django.core.management.base import BaseCommand

from erp.demo.people import DEMO_PASSWORD, DEMO_USERS
from erp.roles import Role


class Command(BaseCommand):
    help = "Print the demo URL and the login of each role."

    def handle(self, *args, **options) -> None:
        port = os.environ.get("WEB_PORT", "8000")
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Returns Back Office: http://127.0.0.1:{port}/"))
        self.stdout.write(f"Demo logins, password {DEMO_PASSWORD}:")
        for username, role, *_ in DEMO_USERS:
            self.stdout.write(f"  {username:<10} {Role(role).label}")
        self.stdout.write("Ctrl-C stops the web server, the worker and beat.\n")
