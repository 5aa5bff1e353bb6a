from libs.common.runtime import serve
from services.clustering.app import build

serve(build())
