"""The job lifecycle every kind of worker job shares (training runs, Studio generations, extractions).

The lowest layer of the project: it imports no other app; each app registers its kind of job.
"""
