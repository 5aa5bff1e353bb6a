from libs.common.runtime import serve
from services.credits.app import build

serve(build())
