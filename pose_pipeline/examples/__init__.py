"""Example schema modules a lab can copy: its own tables that reference the pipeline's (see the README's "Your
experiment"). Each is activated with `pose_pipeline.schema.activate_module` and run by workers with
``pose-pipeline worker --module pose_pipeline.examples.<name>``."""
