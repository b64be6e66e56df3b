"""Pure processing steps of Shuying: values and paths in, values and files out.

Nothing here imports luigi, boto3, HTTP frameworks or global configuration;
workflows/ orchestrates these functions, iiif_server/ serves their results.
"""

__version__ = "0.1.0"
