"""fsm core tests."""
