// The API's shapes by the names the pages use, all from the generated schema.
import type { Schemas } from "./client";

export type SessionCard = Schemas["SessionCard"];
export type SessionDetail = Schemas["SessionDetail"];
export type AssetCard = Schemas["AssetCard"];
export type AssetDetail = Schemas["AssetDetail"];
export type Facets = Schemas["Facets"];
export type UploadResult = Schemas["UploadResult"];
