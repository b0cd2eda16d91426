"""The data that passes between the stages: frozen dataclasses only, no behaviour beyond small helpers.

Nothing here imports a stage; every stage imports from here.
"""
