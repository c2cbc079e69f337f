"""The runtime: the Faust app, agents, tables, timers, sinks, web views and the CLI."""
