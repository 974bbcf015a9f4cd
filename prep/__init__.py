"""Automatic dataset preparation: depth, edge and pose references and captions made from a creator's clips.

`prep.extract` is framework-free (the workers, the tests and the bench call it directly); the Django side
keeps each extraction's state in the database and runs it on the `cpu` queue.
"""
