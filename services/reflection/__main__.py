from libs.common.runtime import serve
from services.reflection.app import build

serve(build())
