"""The training and sampling engine: diffusers' LTX-2 classes, peft and safetensors, with no Django.

A regular package (not a namespace one), so that packaging and the import contracts (pyproject.toml) see it.
"""
