// The change strip: what changed from one generation of a session to the next, as short chips
// ("+lighthouse", "−fog", "CFG 5 → 7", "Model a → b", "+LoRA film") and one sentence per step for
// screen readers. Plain logic, tested alone.

/** One step of GET /sessions/{id}/changes (steps with no change are not sent). */
export interface ChangeStep {
  asset_id: string;
  previous_asset_id: string;
  prompt_added: string[];
  prompt_removed: string[];
  parameters: { name: string; before: unknown; after: unknown }[];
  model: { before: string | null; after: string | null } | null;
  loras_added: string[];
  loras_removed: string[];
}

export type ChipKind = "added" | "removed" | "parameter" | "model" | "lora";

export interface Chip {
  kind: ChipKind;
  text: string;
}

const PARAMETER_NAMES: Record<string, string> = {
  seed: "Seed",
  sampler: "Sampler",
  steps: "Steps",
  cfg: "CFG",
  size: "Size",
  negative_prompt: "Negative prompt",
  "negative prompt": "Negative prompt",
};

/** A parameter's name as people say it ("cfg" reads "CFG"). */
export function parameterName(name: string): string {
  return (
    PARAMETER_NAMES[name.toLowerCase()] ?? name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, " ")
  );
}

/** A parameter's value, short: none as "—", 7.0 as "7", a long negative prompt cut at `max`. */
export function parameterValue(value: unknown, max = 24): string {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(+value.toFixed(2));
  const text = String(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The chips of one step, words first; beyond `maxWords` added (or removed) words, "+N more". */
export function changeChips(step: ChangeStep, maxWords = 6): Chip[] {
  const words = (list: string[], sign: string, kind: ChipKind): Chip[] => {
    const shown = list.slice(0, maxWords).map((w) => ({ kind, text: `${sign}${w}` }));
    if (list.length > maxWords) shown.push({ kind, text: `${sign}${list.length - maxWords} more` });
    return shown;
  };
  const chips: Chip[] = [
    ...words(step.prompt_added, "+", "added"),
    ...words(step.prompt_removed, "−", "removed"),
  ];
  for (const p of step.parameters)
    chips.push({
      kind: "parameter",
      text: `${parameterName(p.name)} ${parameterValue(p.before)} → ${parameterValue(p.after)}`,
    });
  if (step.model)
    chips.push({
      kind: "model",
      text: `Model ${parameterValue(step.model.before, 32)} → ${parameterValue(step.model.after, 32)}`,
    });
  for (const lora of step.loras_added) chips.push({ kind: "lora", text: `+LoRA ${lora}` });
  for (const lora of step.loras_removed) chips.push({ kind: "lora", text: `−LoRA ${lora}` });
  return chips;
}

/** The step in words, for its link's accessible name: "Added lighthouse, dusk; removed fog; CFG 5 → 7". */
export function describeStep(step: ChangeStep): string {
  const parts: string[] = [];
  if (step.prompt_added.length) parts.push(`added ${step.prompt_added.join(", ")}`);
  if (step.prompt_removed.length) parts.push(`removed ${step.prompt_removed.join(", ")}`);
  for (const p of step.parameters)
    parts.push(`${parameterName(p.name)} ${parameterValue(p.before)} → ${parameterValue(p.after)}`);
  if (step.model)
    parts.push(`model ${parameterValue(step.model.before, 60)} → ${parameterValue(step.model.after, 60)}`);
  if (step.loras_added.length) parts.push(`LoRA added ${step.loras_added.join(", ")}`);
  if (step.loras_removed.length) parts.push(`LoRA removed ${step.loras_removed.join(", ")}`);
  const text = parts.join("; ") || "no change";
  return text.charAt(0).toUpperCase() + text.slice(1);
}
