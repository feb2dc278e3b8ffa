"""The audit log: every change an admin makes to the configuration, with before and after."""
