"""Many brokers as one: stored connections and, on top of them, the manager."""
