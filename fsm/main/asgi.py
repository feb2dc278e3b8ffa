"""ASGI entry point for uvicorn or any ASGI server: `fsm.main.asgi:app`."""

from fsm.main.app import create_app

app = create_app()
