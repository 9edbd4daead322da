"""Image captioning: a CNN encoder and a recurrent decoder."""
