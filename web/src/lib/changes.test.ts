import { describe, expect, it } from "vitest";
import { changeChips, describeStep, parameterName, parameterValue, type ChangeStep } from "./changes";

function step(overrides: Partial<ChangeStep> = {}): ChangeStep {
  return {
    asset_id: "b",
    previous_asset_id: "a",
    prompt_added: [],
    prompt_removed: [],
    parameters: [],
    model: null,
    loras_added: [],
    loras_removed: [],
    ...overrides,
  };
}

describe("change strip", () => {
  it("reads words added and removed, parameters, model and LoRA switches", () => {
    const chips = changeChips(
      step({
        prompt_added: ["lighthouse"],
        prompt_removed: ["fog"],
        parameters: [{ name: "cfg", before: 5, after: 7 }],
        model: { before: "sdxl_base", after: "dreamshaperXL_turbo" },
        loras_added: ["film"],
        loras_removed: ["grain"],
      }),
    );
    expect(chips.map((c) => c.text)).toEqual([
      "+lighthouse",
      "−fog",
      "CFG 5 → 7",
      "Model sdxl_base → dreamshaperXL_turbo",
      "+LoRA film",
      "−LoRA grain",
    ]);
    expect(chips.map((c) => c.kind)).toEqual(["added", "removed", "parameter", "model", "lora", "lora"]);
  });
  it("keeps a long prompt edit short", () => {
    const words = ["a", "b", "c", "d", "e", "f", "g", "h"];
    const chips = changeChips(step({ prompt_added: words }), 3);
    expect(chips.map((c) => c.text)).toEqual(["+a", "+b", "+c", "+5 more"]);
  });
  it("says parameters as people do", () => {
    expect(parameterName("cfg")).toBe("CFG");
    expect(parameterName("negative prompt")).toBe("Negative prompt");
    expect(parameterName("denoise_strength")).toBe("Denoise strength");
    expect(parameterValue(7.0)).toBe("7");
    expect(parameterValue(0.3333)).toBe("0.33");
    expect(parameterValue(null)).toBe("—");
    expect(parameterValue("x".repeat(40), 10)).toBe("xxxxxxxxx…");
    expect(parameterValue("1024x768")).toBe("1024x768");
  });
  it("describes a step in one sentence", () => {
    expect(
      describeStep(
        step({
          prompt_added: ["lighthouse", "dusk"],
          parameters: [{ name: "steps", before: 20, after: 30 }],
        }),
      ),
    ).toBe("Added lighthouse, dusk; Steps 20 → 30");
    expect(describeStep(step())).toBe("No change");
  });
});
