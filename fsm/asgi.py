"""ASGI entry point for uvicorn or any ASGI server: `fsm.asgi:app`."""

from fsm.app import create_app

app = create_app()
