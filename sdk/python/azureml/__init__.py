# A pkgutil-style namespace package: runyard's azureml.core can sit next to other
# azureml.* packages (and a real azureml-core) on sys.path.
__path__ = __import__("pkgutil").extend_path(__path__, __name__)
