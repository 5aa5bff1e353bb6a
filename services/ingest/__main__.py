from libs.common.runtime import serve
from services.ingest.app import build

serve(build())
