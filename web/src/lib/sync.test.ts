import { describe, expect, it } from "vitest";
import { quotePath, shellQuote, syncCommand } from "./sync";

describe("shellQuote", () => {
  it("leaves plain words bare and quotes the rest", () => {
    expect(shellQuote("https://atelier.example.com")).toBe("https://atelier.example.com");
    expect(shellQuote("My Renders")).toBe("'My Renders'");
    expect(shellQuote("it's")).toBe(`'it'"'"'s'`);
    expect(shellQuote("")).toBe("''");
  });
});

describe("quotePath", () => {
  it("keeps ~/ where the shell expands it", () => {
    expect(quotePath("~/Pictures/ComfyUI")).toBe("~/Pictures/ComfyUI");
    expect(quotePath("~/My Renders")).toBe("~/'My Renders'");
    expect(quotePath("/srv/renders $x")).toBe("'/srv/renders $x'");
  });
});

describe("syncCommand", () => {
  it("names the folder, the server and the token", () => {
    expect(
      syncCommand({
        folder: "~/Pictures/ComfyUI",
        server: "http://127.0.0.1:8000",
        token: "at_abc",
        watch: false,
      }),
    ).toBe("atelier sync ~/Pictures/ComfyUI --server http://127.0.0.1:8000 --token at_abc");
  });
  it("reads the token from the environment until one is made, and can keep watching", () => {
    expect(syncCommand({ folder: "", server: "https://a.example", token: null, watch: true })).toBe(
      'atelier sync ~/Pictures --server https://a.example --token "$ATELIER_TOKEN" --watch',
    );
  });
});
