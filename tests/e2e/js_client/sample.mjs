// The smallest request a published schema accepts, built from the schema alone: its required fields,
// each the first value its type, enum, pattern or bounds allow. Ids the client has made are used for the
// fields named after them (`known`), so a request reaches the rule it is about rather than `not_found`.
const PATTERN_SAMPLES = {  // the patterns the documents use, and a value each accepts
  "^-?[0-9]+(\\.[0-9]+)?$": "1",
  "^[0-9]+(\\.[0-9]+)?$": "1",
  "^(0|[1-9][0-9]{0,13})(\\.[0-9]{1,2})?$": "100.00",
  "^(?!0+(\\.0+)?$)(0|[1-9][0-9]{0,13})(\\.[0-9]{1,2})?$": "100.00",
  "^\\d{4}-(0[1-9]|1[0-2])$": "2026-11",
  "^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])$": "2026-11",
  "^\\d{4}-W(0[1-9]|[1-4]\\d|5[0-3])$": "2026-W48",
  "^[A-Z0-9][A-Z0-9-]{0,39}$": "JS-SAMPLE",
  "^[A-Z]{2,10}$": "SOUTH",
};

export function sampler(resolve, known) {
  function sample(schema, name) {
    if (schema.$ref) return sample(resolve(schema.$ref), name);
    if (name in known && typeof known[name] === "string") return known[name];
    if ("const" in schema) return schema.const;
    if (schema.enum) return schema.enum[0];
    const options = schema.anyOf || schema.oneOf;
    if (options) {
      const concrete = options.filter((option) => option.type !== "null");
      return sample(concrete[0] || options[0], name);
    }
    if (schema.allOf) return sample(schema.allOf[0], name);
    switch (schema.type) {
      case "object": {
        const value = {};
        for (const field of schema.required || []) value[field] = sample(schema.properties[field], field);
        if (!schema.properties && (schema.minProperties || 0) > 0) {
          const key = schema.propertyNames ? sample(schema.propertyNames, "key") : "1";
          value[key] = sample(schema.additionalProperties || {}, key);
        }
        return value;
      }
      case "array": {
        const count = Math.max(schema.minItems || 0, 1);
        return Array.from({ length: count }, () => sample(schema.items || {}, name));
      }
      case "integer":
      case "number": {
        const low = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : 1);
        return Math.max(low, Math.min(1, schema.maximum ?? 1));
      }
      case "boolean":
        return false;
      case "string": {
        if (schema.format === "date") return "2026-11-20";
        if (schema.format === "date-time") return "2026-11-20T02:00:00+00:00";
        if (schema.pattern) {
          if (!(schema.pattern in PATTERN_SAMPLES)) throw new Error(`no sample for the pattern ${schema.pattern}`);
          return PATTERN_SAMPLES[schema.pattern];
        }
        return "js".padEnd(schema.minLength || 1, "x").slice(0, schema.maxLength || 100);
      }
      default:
        return "js";
    }
  }
  return sample;
}
