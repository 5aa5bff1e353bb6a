from libs.common.runtime import serve
from services.gateway.app import build

serve(build())
