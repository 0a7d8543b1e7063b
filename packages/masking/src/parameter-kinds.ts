/**
 * Parameter kinds for statistics (attention q/k/v/out, MLP in/out, lm_head), derived from the
 * layer name by a table of rules. The default rules cover the Hugging Face names of GPT-Neo,
 * GPT-2-style, BERT/RoBERTa and T5 layers; an architecture can put its own rules first.
 */

/** A parameter kind, such as `attention.q` or `mlp.in`; `other` when no rule matches. */
export type ParameterKind = string;

/** One rule: a layer whose module path matches `pattern` is of `kind`. */
export interface ParameterKindRule {
  kind: ParameterKind;
  pattern: RegExp;
}

/** Default rules, tried in order; the first match wins. */
export const DEFAULT_PARAMETER_KIND_RULES: readonly ParameterKindRule[] = [
  // attention output before the generic MLP output, since BERT's `attention.output.dense` also ends in `output.dense`
  { kind: 'attention.out', pattern: /(\.out_proj|\.o_proj|attention\.output\.dense|Attention\.o|attn\.c_proj)$/ },
  { kind: 'attention.q', pattern: /(\.q_proj|\.query|Attention\.q)$/ },
  { kind: 'attention.k', pattern: /(\.k_proj|\.key|Attention\.k)$/ },
  { kind: 'attention.v', pattern: /(\.v_proj|\.value|Attention\.v)$/ },
  { kind: 'attention.qkv', pattern: /(\.c_attn|\.qkv_proj|\.query_key_value)$/ },
  { kind: 'mlp.in', pattern: /(mlp\.c_fc|intermediate\.dense|DenseReluDense\.wi(_0|_1)?|mlp\.(gate|up)_proj|\.fc1)$/ },
  { kind: 'mlp.out', pattern: /(mlp\.c_proj|\d\.output\.dense|DenseReluDense\.wo|mlp\.down_proj|\.fc2)$/ },
  { kind: 'lm_head', pattern: /(^|\.)(lm_head|lm_head\.decoder)$/ },
];

/** Returns the kind of layer `layer` (a module path) under `rules`, or `other`. */
export function parameterKind(layer: string, rules: readonly ParameterKindRule[] = DEFAULT_PARAMETER_KIND_RULES): ParameterKind {
  for (const rule of rules) if (rule.pattern.test(layer)) return rule.kind;
  return 'other';
}

/** Returns `extra` rules followed by the default ones, so an architecture's rules win. */
export function withParameterKindRules(extra: readonly ParameterKindRule[]): ParameterKindRule[] {
  return [...extra, ...DEFAULT_PARAMETER_KIND_RULES];
}
