"""Real time: the WebSocket frame protocol, connections and tickets, and the fan-out to sockets."""
