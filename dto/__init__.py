"""`dto`: the command-line tool and composition root (builds the runtime: Ray, storage, actors, gateway)."""
