"""The one deterministic simulation engine: clock, calendar, instruments, prices, orders."""
