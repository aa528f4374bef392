"""AI participants: model providers behind one interface, and the responder that streams replies."""
