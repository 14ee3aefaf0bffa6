"""What the Locust scenarios (load/locustfile.py) are built from. Importing this package imports
Locust, which patches the standard library for gevent: only load processes import it."""
