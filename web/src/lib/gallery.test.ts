import { describe, expect, it } from "vitest";
import { filtersQuery, isFiltered, readFilters, savedQuery } from "./gallery";
import { galleryHref } from "./searches.svelte";

describe("gallery filters in the address", () => {
  it("round-trips what the API takes", () => {
    const params = new URLSearchParams(
      "q=red%20fox&model=sdxl&has_time=false&from=2025-03-01T00:00:00.000Z&junk=1",
    );
    const filters = readFilters(params);
    expect(filters).toEqual({
      q: "red fox",
      model: "sdxl",
      has_time: false,
      from: "2025-03-01T00:00:00.000Z",
    });
    expect(readFilters(new URLSearchParams(filtersQuery(filters)))).toEqual(filters);
  });
  it("reads keepers only, rejected only and show rejected, and nothing else for them", () => {
    const filters = readFilters(new URLSearchParams("flag=pick&include_rejected=true"));
    expect(filters).toEqual({ flag: "pick", include_rejected: true });
    expect(filtersQuery(filters)).toBe("flag=pick&include_rejected=true");
    expect(readFilters(new URLSearchParams("flag=reject&include_rejected=yes"))).toEqual({ flag: "reject" });
    expect(readFilters(new URLSearchParams("flag=maybe&include_rejected=yes"))).toEqual({});
    expect(isFiltered({ flag: "pick" })).toBe(true);
  });
  it("saves keepers only and show rejected with the search, and opens them again", () => {
    const keepers = savedQuery({ q: "fox", flag: "pick" });
    expect(keepers).toEqual({ q: "fox", flag: "pick" });
    expect(readFilters(new URLSearchParams(galleryHref(keepers).split("?")[1]))).toEqual(keepers);
    const withRejects = savedQuery({ q: "fox", include_rejected: true });
    expect(galleryHref(withRejects)).toBe("/app/gallery?q=fox&include_rejected=true");
    expect(readFilters(new URLSearchParams("q=fox&include_rejected=true"))).toEqual(withRejects);
  });
  it("drops blanks and nonsense booleans", () => {
    expect(readFilters(new URLSearchParams("q=%20%20&has_time=maybe"))).toEqual({});
    expect(isFiltered({})).toBe(false);
    expect(isFiltered({ q: "fox" })).toBe(true);
  });
});
