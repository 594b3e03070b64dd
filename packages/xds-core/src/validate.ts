import {
  type DescEnum,
  type DescField,
  type DescMessage,
  equals,
  getOption,
  hasOption,
  isFieldSet,
  type Message,
  type Registry,
  ScalarType,
} from "@bufbuild/protobuf";
import { type Any, anyUnpack, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { registry as protoRegistry } from "@nebucloud/xds-proto";
import {
  type AnyRules,
  type BoolRules,
  BoolRulesSchema,
  type BytesRules,
  BytesRulesSchema,
  DoubleRulesSchema,
  type DurationRules,
  DurationRulesSchema,
  disabled as disabledOption,
  type EnumRules,
  EnumRulesSchema,
  type FieldRules,
  Fixed32RulesSchema,
  Fixed64RulesSchema,
  FloatRulesSchema,
  Int32RulesSchema,
  Int64RulesSchema,
  KnownRegex,
  type MapRules,
  MapRulesSchema,
  type RepeatedRules,
  RepeatedRulesSchema,
  required as requiredOneofOption,
  rules as rulesOption,
  SFixed32RulesSchema,
  SFixed64RulesSchema,
  SInt32RulesSchema,
  SInt64RulesSchema,
  type StringRules,
  StringRulesSchema,
  type TimestampRules,
  TimestampRulesSchema,
  UInt32RulesSchema,
  UInt64RulesSchema,
} from "@nebucloud/xds-proto/validate/validate_pb";
import { XdsError } from "./xds-error.js";

/** One broken protoc-gen-validate rule. */
export interface Violation {
  /**
   * Where, in proto field names from the validated message: `.` between
   * fields, `[i]` for list items, `["key"]` for map entries, and an `Any`'s
   * packed fields continuing its path (`filters[1].typed_config.stat_prefix`).
   * A `validate.required` oneof is named by the oneof's name.
   */
  readonly path: string;
  /** The rule, as `<rule set>.<rule>` from validate.proto: `string.min_len`, `message.required`, `oneof.required`... */
  readonly rule: string;
  /** A sentence naming the field, the constraint and the value found. */
  readonly message: string;
}

/** Options of {@link validateResource} and {@link assertValid}. */
export interface ValidateOptions {
  /**
   * Resolves the types packed in `Any` fields so that their rules are checked
   * too; an `Any` of a type it does not know is only checked against its own
   * `any` rules. Default: every type of `@nebucloud/xds-proto`.
   */
  readonly registry?: Registry;
  /**
   * How many messages deep below the validated one to descend (an `Any`'s
   * packed message counts as a level below the `Any`). Deeper messages are not
   * checked and not reported; the bound guards against pathologically deep or
   * cyclic object graphs. Default 32.
   */
  readonly maxDepth?: number;
}

/**
 * Checks `message` against the protoc-gen-validate (`validate.rules`) rules of
 * its schema and of every message inside it, including the messages packed in
 * `Any` fields whose type the registry knows, the way Envoy checks a resource
 * before accepting it. Returns every violation found (empty when valid); never
 * throws for an invalid message.
 *
 * The semantics are PGV's: a proto3 scalar without presence is checked even
 * when it holds its default, a message, wrapper, `Duration`, `Timestamp` or
 * `Any` field only when set (unless it is `required`), a oneof member only when
 * selected. Patterns are matched against the whole value, as Envoy's C++
 * validators do.
 */
export function validateResource(schema: DescMessage, message: Message, options: ValidateOptions = {}): Violation[] {
  const ctx: Context = {
    registry: options.registry ?? protoRegistry,
    maxDepth: options.maxDepth ?? 32,
    nowNanos: BigInt(Date.now()) * 1_000_000n,
    violations: [],
  };
  visitMessageValue(schema, message, "", ctx, 0, undefined, false);
  return ctx.violations;
}

/**
 * Throws an {@link XdsError} `invalid_config` listing the violations when
 * {@link validateResource} finds any. details: `violations` (all of them) and
 * `field` (the path of the first).
 */
export function assertValid(schema: DescMessage, message: Message, options: ValidateOptions = {}): void {
  const violations = validateResource(schema, message, options);
  const first = violations[0];
  if (first === undefined) return;
  const shown = violations.slice(0, 10).map((violation) => `${violation.message} [${violation.rule}]`);
  const more = violations.length > shown.length ? `; and ${violations.length - shown.length} more` : "";
  throw new XdsError(
    "invalid_config",
    `${schema.typeName} is invalid (${plural(violations.length, "violation")}): ${shown.join("; ")}${more}`,
    { violations, field: first.path },
  );
}

interface Context {
  readonly registry: Registry;
  readonly maxDepth: number;
  /** One "now" per validation, so lt_now/gt_now rules agree with each other. */
  readonly nowNanos: bigint;
  readonly violations: Violation[];
}

/**
 * Checks one value against the rules compiled for it. `subject` names the value
 * in the message (its path, or "map key ..." for a key).
 */
type Check = (value: unknown, path: string, ctx: Context, subject: string) => void;

function report(ctx: Context, path: string, rule: string, message: string): void {
  ctx.violations.push({ path, rule, message });
}

// ---------------------------------------------------------------------------
// Walking messages

interface MessagePlan {
  /** `validate.disabled` or `validate.ignored`: the message's own rules are not checked. */
  readonly disabled: boolean;
  /** Oneofs with `validate.required`. */
  readonly requiredOneofs: readonly { readonly name: string; readonly localName: string; readonly members: string }[];
  /** Fields that have rules or may hold messages with rules; the others are never looked at. */
  readonly fields: readonly FieldPlan[];
}

type FieldPlan = SingularPlan | ListPlan | MapPlan;

interface SingularPlan {
  readonly kind: "singular";
  readonly field: DescField;
  /** Whether the field can be unset (oneof member, message, proto3 `optional`, proto2). */
  readonly tracksPresence: boolean;
  /** The rule an unset field breaks (`message.required`, `duration.required`...). */
  readonly requiredRule: string | undefined;
  readonly check: Check | undefined;
  readonly skip: boolean;
}

interface ListPlan {
  readonly kind: "list";
  readonly field: DescField & { fieldKind: "list" };
  readonly rules: CompiledRepeated | undefined;
  readonly check: Check | undefined;
  readonly skip: boolean;
}

interface MapPlan {
  readonly kind: "map";
  readonly field: DescField & { fieldKind: "map" };
  readonly rules: CompiledMap | undefined;
  readonly keyCheck: Check | undefined;
  readonly check: Check | undefined;
  readonly skip: boolean;
}

interface CompiledRepeated {
  readonly minItems: bigint | undefined;
  readonly maxItems: bigint | undefined;
  readonly unique: boolean;
  readonly ignoreEmpty: boolean;
}

interface CompiledMap {
  readonly minPairs: bigint | undefined;
  readonly maxPairs: bigint | undefined;
  readonly ignoreEmpty: boolean;
}

// Rule extraction reads descriptor options and compiles regular expressions:
// done once per message type, not once per message.
const plans = new WeakMap<DescMessage, MessagePlan>();

function planOf(schema: DescMessage): MessagePlan {
  let plan = plans.get(schema);
  if (plan === undefined) {
    plan = buildPlan(schema);
    plans.set(schema, plan);
  }
  return plan;
}

function visitMessage(schema: DescMessage, message: Message, path: string, ctx: Context, depth: number): void {
  if (depth > ctx.maxDepth) return;
  const plan = planOf(schema);
  if (plan.disabled) return;
  const source = message as unknown as Record<string, unknown>;
  for (const oneof of plan.requiredOneofs) {
    const selected = source[oneof.localName] as { case: string | undefined } | undefined;
    if (selected?.case === undefined) {
      const where = join(path, oneof.name);
      report(ctx, where, "oneof.required", `${where} must have one of its fields (${oneof.members}) set, but none is`);
    }
  }
  for (const fieldPlan of plan.fields) {
    const field = fieldPlan.field;
    let value: unknown;
    if (field.oneof !== undefined) {
      const selected = source[field.oneof.localName] as { case: string | undefined; value?: unknown } | undefined;
      if (selected?.case !== field.localName) continue; // an unselected member has no rules to meet
      value = selected.value;
    } else {
      value = source[field.localName];
    }
    const where = join(path, field.name);
    switch (fieldPlan.kind) {
      case "singular":
        visitSingular(fieldPlan, message, value, where, ctx, depth + 1);
        break;
      case "list":
        visitList(fieldPlan, value as readonly unknown[], where, ctx, depth + 1);
        break;
      case "map":
        visitMap(fieldPlan, value as Record<string, unknown>, where, ctx, depth + 1);
        break;
    }
  }
}

function visitSingular(
  plan: SingularPlan,
  message: Message,
  value: unknown,
  path: string,
  ctx: Context,
  depth: number,
): void {
  const field = plan.field;
  if (field.fieldKind === "message") {
    if (value === undefined) {
      if (plan.requiredRule !== undefined) {
        report(ctx, path, plan.requiredRule, `${path} is required, but is not set`);
      }
      return;
    }
    visitMessageValue(field.message, value, path, ctx, depth, plan.check, plan.skip);
    return;
  }
  // Explicit presence (proto3 `optional`, proto2): PGV only checks a set field.
  if (plan.tracksPresence && field.oneof === undefined && !isFieldSet(message, field)) return;
  plan.check?.(value, path, ctx, path);
}

function visitList(plan: ListPlan, items: readonly unknown[], path: string, ctx: Context, depth: number): void {
  const rules = plan.rules;
  if (rules !== undefined) {
    if (rules.ignoreEmpty && items.length === 0) return;
    const count = BigInt(items.length);
    if (rules.minItems !== undefined && count < rules.minItems) {
      report(
        ctx,
        path,
        "repeated.min_items",
        `${path} must have at least ${plural(rules.minItems, "item")}, got ${items.length}`,
      );
    }
    if (rules.maxItems !== undefined && count > rules.maxItems) {
      report(
        ctx,
        path,
        "repeated.max_items",
        `${path} must have at most ${plural(rules.maxItems, "item")}, got ${items.length}`,
      );
    }
    if (rules.unique) checkUnique(plan.field, items, path, ctx);
  }
  const field = plan.field;
  if (field.listKind === "message") {
    for (let i = 0; i < items.length; i++) {
      visitMessageValue(field.message, items[i], `${path}[${i}]`, ctx, depth, plan.check, plan.skip);
    }
  } else if (plan.check !== undefined) {
    for (let i = 0; i < items.length; i++) {
      const where = `${path}[${i}]`;
      plan.check(items[i], where, ctx, where);
    }
  }
}

function checkUnique(field: DescField & { fieldKind: "list" }, items: readonly unknown[], path: string, ctx: Context) {
  if (field.listKind === "message") {
    // PGV only allows `unique` on scalars; messages are compared by content.
    for (let i = 1; i < items.length; i++) {
      for (let j = 0; j < i; j++) {
        if (equals(field.message, items[i] as Message, items[j] as Message)) {
          reportDuplicate(ctx, path, i, j, "an equal message");
          break;
        }
      }
    }
    return;
  }
  const seen = new Map<unknown, number>();
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const key = item instanceof Uint8Array ? hex(item) : item;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else reportDuplicate(ctx, path, i, first, show(item));
  }
}

function reportDuplicate(ctx: Context, path: string, index: number, first: number, shown: string): void {
  const where = `${path}[${index}]`;
  report(
    ctx,
    where,
    "repeated.unique",
    `${path} must have unique items, but ${where} repeats ${path}[${first}] (${shown})`,
  );
}

function visitMap(plan: MapPlan, entries: Record<string, unknown>, path: string, ctx: Context, depth: number): void {
  const keys = Object.keys(entries);
  const rules = plan.rules;
  if (rules !== undefined) {
    if (rules.ignoreEmpty && keys.length === 0) return;
    const count = BigInt(keys.length);
    if (rules.minPairs !== undefined && count < rules.minPairs) {
      report(
        ctx,
        path,
        "map.min_pairs",
        `${path} must have at least ${plural(rules.minPairs, "entry")}, got ${keys.length}`,
      );
    }
    if (rules.maxPairs !== undefined && count > rules.maxPairs) {
      report(
        ctx,
        path,
        "map.max_pairs",
        `${path} must have at most ${plural(rules.maxPairs, "entry")}, got ${keys.length}`,
      );
    }
  }
  const field = plan.field;
  if (plan.keyCheck === undefined && plan.check === undefined && field.mapKind !== "message") return;
  for (const key of keys) {
    const where = `${path}[${formatKey(field.mapKey, key)}]`;
    if (plan.keyCheck !== undefined) {
      plan.keyCheck(mapKeyValue(field.mapKey, key), where, ctx, `the key ${formatKey(field.mapKey, key)} of ${path}`);
    }
    const value = entries[key];
    if (field.mapKind === "message") visitMessageValue(field.message, value, where, ctx, depth, plan.check, plan.skip);
    else plan.check?.(value, where, ctx, where);
  }
}

/**
 * One value of a message type: a wrapper's rules apply to the wrapped value,
 * Any/Duration/Timestamp rules to the message itself; any other message is
 * walked (unless `skip`), and an Any's packed message too when its type is known.
 */
function visitMessageValue(
  schema: DescMessage,
  value: unknown,
  path: string,
  ctx: Context,
  depth: number,
  check: Check | undefined,
  skip: boolean,
): void {
  const typeName = schema.typeName;
  if (wrapperTypes.has(typeName)) {
    // Singular wrapper fields hold the bare value; list items, map values and
    // oneof members hold the wrapper message.
    const unwrapped = isMessageValue(value) ? (value as unknown as { value: unknown }).value : value;
    check?.(unwrapped, path, ctx, path);
    return;
  }
  if (typeName === "google.protobuf.Any") {
    check?.(value, path, ctx, path);
    if (!skip) visitAny(value as Any, path, ctx, depth);
    return;
  }
  if (typeName.startsWith("google.protobuf.")) {
    // Duration, Timestamp: their rules are the check. Struct, Value, ListValue
    // (held as plain JSON), FieldMask, Empty...: no PGV rules to look for.
    check?.(value, path, ctx, path);
    return;
  }
  if (!skip) visitMessage(schema, value as Message, path, ctx, depth);
}

function visitAny(any: Any, path: string, ctx: Context, depth: number): void {
  if (any.typeUrl === "" || depth >= ctx.maxDepth) return;
  let packed: Message | undefined;
  try {
    packed = anyUnpack(any, ctx.registry);
  } catch (error) {
    // Envoy rejects a typed config it cannot decode as its declared type.
    report(
      ctx,
      path,
      "any.unpack",
      `${path} holds bytes that do not decode as ${any.typeUrl}: ${error instanceof Error ? error.message : String(error)}`,
    );
    return;
  }
  if (packed === undefined) return; // a type this registry does not know: only its type URL could be checked
  const schema = ctx.registry.getMessage(packed.$typeName);
  if (schema !== undefined) visitMessageValue(schema, packed, path, ctx, depth + 1, undefined, false);
}

function isMessageValue(value: unknown): boolean {
  return typeof value === "object" && value !== null && "$typeName" in value;
}

const wrapperTypes = new Set([
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.BoolValue",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
]);

// ---------------------------------------------------------------------------
// Compiling a message type's rules

function buildPlan(schema: DescMessage): MessagePlan {
  const options = schema.proto.options;
  // `validate.ignored` (1072) is newer than the validate.proto this build
  // compiles against, so it can only show up as an unknown option.
  const disabled =
    (hasOption(schema, disabledOption) && getOption(schema, disabledOption)) ||
    (options !== undefined && unknownFlag(options, 1072) === true);
  if (disabled) return { disabled: true, requiredOneofs: [], fields: [] };
  const requiredOneofs = schema.oneofs
    .filter((oneof) => hasOption(oneof, requiredOneofOption) && getOption(oneof, requiredOneofOption))
    .map((oneof) => ({
      name: oneof.name,
      localName: oneof.localName,
      members: oneof.fields.map((field) => field.name).join(", "),
    }));
  const fields: FieldPlan[] = [];
  for (const field of schema.fields) {
    const fieldPlan = planField(field, hasOption(field, rulesOption) ? getOption(field, rulesOption) : undefined);
    if (fieldPlan !== undefined) fields.push(fieldPlan);
  }
  return { disabled: false, requiredOneofs, fields };
}

function planField(field: DescField, rules: FieldRules | undefined): FieldPlan | undefined {
  switch (field.fieldKind) {
    case "scalar":
    case "enum": {
      const check = compileValue(rules, valueKindOf(field));
      if (check === undefined) return undefined;
      return {
        kind: "singular",
        field,
        tracksPresence: field.presence !== IMPLICIT,
        requiredRule: undefined,
        check,
        skip: false,
      };
    }
    case "message": {
      const check = compileValue(rules, { kind: "message", schema: field.message });
      const requiredRule = requiredRuleOf(rules);
      const skip = rules?.message?.skip === true;
      if (check === undefined && requiredRule === undefined && !mayHoldRules(field.message, skip)) return undefined;
      return { kind: "singular", field, tracksPresence: true, requiredRule, check, skip };
    }
    case "list": {
      const repeated = rules?.type.case === "repeated" ? rules.type.value : undefined;
      const items = repeated?.items;
      const check = compileValue(items, valueKindOf(field));
      const skip = items?.message?.skip === true;
      const compiled = repeated === undefined ? undefined : compileRepeated(repeated);
      if (field.listKind === "message") {
        if (compiled === undefined && check === undefined && !mayHoldRules(field.message, skip)) return undefined;
      } else if (compiled === undefined && check === undefined) {
        return undefined;
      }
      return { kind: "list", field, rules: compiled, check, skip };
    }
    case "map": {
      const map = rules?.type.case === "map" ? rules.type.value : undefined;
      const keyCheck = compileValue(map?.keys, { kind: "scalar", scalar: field.mapKey });
      const check = compileValue(map?.values, valueKindOf(field));
      const skip = map?.values?.message?.skip === true;
      const compiled = map === undefined ? undefined : compileMap(map);
      const recurse = field.mapKind === "message" && mayHoldRules(field.message, skip);
      if (compiled === undefined && keyCheck === undefined && check === undefined && !recurse) return undefined;
      return { kind: "map", field, rules: compiled, keyCheck, check, skip };
    }
  }
}

/** FieldDescriptorProto presence as protobuf-es numbers it (IMPLICIT = 2). */
const IMPLICIT = 2;

/** Whether walking into a message of this type can find anything to check. */
function mayHoldRules(schema: DescMessage, skip: boolean): boolean {
  if (skip) return false;
  // Well-known types carry no PGV rules; Any is walked for its packed message.
  return schema.typeName === "google.protobuf.Any" || !schema.typeName.startsWith("google.protobuf.");
}

function requiredRuleOf(rules: FieldRules | undefined): string | undefined {
  if (rules === undefined) return undefined;
  if (rules.message?.required === true) return "message.required";
  const type = rules.type;
  if ((type.case === "duration" || type.case === "timestamp" || type.case === "any") && type.value.required) {
    return `${type.case}.required`;
  }
  return undefined;
}

function compileRepeated(rules: RepeatedRules): CompiledRepeated | undefined {
  const compiled: CompiledRepeated = {
    minItems: setValue<bigint>(RepeatedRulesSchema, rules, "minItems"),
    maxItems: setValue<bigint>(RepeatedRulesSchema, rules, "maxItems"),
    unique: rules.unique,
    // ignore_empty (5) is newer than the validate.proto this build compiles against.
    ignoreEmpty: unknownFlag(rules, 5) === true,
  };
  const active =
    compiled.minItems !== undefined || compiled.maxItems !== undefined || compiled.unique || compiled.ignoreEmpty;
  return active ? compiled : undefined;
}

function compileMap(rules: MapRules): CompiledMap | undefined {
  const compiled: CompiledMap = {
    minPairs: setValue<bigint>(MapRulesSchema, rules, "minPairs"),
    maxPairs: setValue<bigint>(MapRulesSchema, rules, "maxPairs"),
    // ignore_empty (6) is newer than the validate.proto this build compiles against.
    ignoreEmpty: unknownFlag(rules, 6) === true,
  };
  // no_sparse only concerns map values that are null messages, which protobuf-es cannot hold.
  const active = compiled.minPairs !== undefined || compiled.maxPairs !== undefined || compiled.ignoreEmpty;
  return active ? compiled : undefined;
}

type ValueKind =
  | { readonly kind: "scalar"; readonly scalar: ScalarType }
  | { readonly kind: "enum"; readonly schema: DescEnum }
  | { readonly kind: "message"; readonly schema: DescMessage };

function valueKindOf(field: DescField): ValueKind {
  switch (field.fieldKind) {
    case "scalar":
      return { kind: "scalar", scalar: field.scalar };
    case "enum":
      return { kind: "enum", schema: field.enum };
    case "message":
      return { kind: "message", schema: field.message };
    case "list":
      if (field.listKind === "scalar") return { kind: "scalar", scalar: field.scalar };
      if (field.listKind === "enum") return { kind: "enum", schema: field.enum };
      return { kind: "message", schema: field.message };
    case "map":
      if (field.mapKind === "scalar") return { kind: "scalar", scalar: field.scalar };
      if (field.mapKind === "enum") return { kind: "enum", schema: field.enum };
      return { kind: "message", schema: field.message };
  }
}

/** The check for one value under `rules`, or `undefined` when they constrain nothing. */
function compileValue(rules: FieldRules | undefined, kind: ValueKind): Check | undefined {
  if (rules === undefined) return undefined;
  const type = rules.type;
  switch (type.case) {
    case "float":
    case "double":
    case "int32":
    case "int64":
    case "uint32":
    case "uint64":
    case "sint32":
    case "sint64":
    case "fixed32":
    case "fixed64":
    case "sfixed32":
    case "sfixed64":
      return compileNumber(type.case, type.value);
    case "bool":
      return compileBool(type.value);
    case "string":
      return compileString(type.value);
    case "bytes":
      return compileBytes(type.value);
    case "enum":
      return kind.kind === "enum" ? compileEnum(type.value, kind.schema) : undefined;
    case "any":
      return compileAny(type.value);
    case "duration":
      return compileDuration(type.value);
    case "timestamp":
      return compileTimestamp(type.value);
    default:
      // repeated/map rules are compiled by planField; message rules need no value check.
      return undefined;
  }
}

/** Joins checks into one; `undefined` when there are none. */
function all(checks: Check[]): Check | undefined {
  if (checks.length === 0) return undefined;
  if (checks.length === 1) return checks[0];
  return (value, path, ctx, subject) => {
    for (const check of checks) check(value, path, ctx, subject);
  };
}

// ---------------------------------------------------------------------------
// Numbers (and the range logic Duration and Timestamp share)

type Num = number | bigint;
type NumericKind =
  | "float"
  | "double"
  | "int32"
  | "int64"
  | "uint32"
  | "uint64"
  | "sint32"
  | "sint64"
  | "fixed32"
  | "fixed64"
  | "sfixed32"
  | "sfixed64";

const numericSchemas: Record<NumericKind, DescMessage> = {
  float: FloatRulesSchema,
  double: DoubleRulesSchema,
  int32: Int32RulesSchema,
  int64: Int64RulesSchema,
  uint32: UInt32RulesSchema,
  uint64: UInt64RulesSchema,
  sint32: SInt32RulesSchema,
  sint64: SInt64RulesSchema,
  fixed32: Fixed32RulesSchema,
  fixed64: Fixed64RulesSchema,
  sfixed32: SFixed32RulesSchema,
  sfixed64: SFixed64RulesSchema,
};

interface NumericRulesShape {
  readonly in: readonly Num[];
  readonly notIn: readonly Num[];
}

function compileNumber(kind: NumericKind, rules: Message & NumericRulesShape): Check | undefined {
  const schema = numericSchemas[kind];
  const wide = kind.endsWith("64") && kind !== "double";
  // 64-bit values may come as bigint, string (jstype) or number; compare as bigint.
  // float rules are float32s, so the value is rounded the same way before comparing.
  const norm = (value: unknown): Num =>
    wide
      ? typeof value === "bigint"
        ? value
        : BigInt(value as string | number)
      : kind === "float"
        ? Math.fround(Number(value))
        : Number(value);
  const get = (name: string): Num | undefined => {
    const value = setValue<Num>(schema, rules, name);
    return value === undefined ? undefined : norm(value);
  };
  const constant = get("const");
  const range = compileRange<Num>(kind, { lt: get("lt"), lte: get("lte"), gt: get("gt"), gte: get("gte") }, String);
  const inList = rules.in.map(norm);
  const notIn = rules.notIn.map(norm);
  // ignore_empty (8) is newer than the validate.proto this build compiles against.
  const ignoreEmpty = unknownFlag(rules, 8) === true;
  if (constant === undefined && range === undefined && inList.length === 0 && notIn.length === 0) return undefined;
  return (raw, path, ctx, subject) => {
    const value = norm(raw);
    if (ignoreEmpty && (value === 0 || value === 0n)) return;
    if (constant !== undefined && value !== constant) {
      report(ctx, path, `${kind}.const`, `${subject} must equal ${constant}, got ${value}`);
    }
    range?.(value, path, ctx, subject);
    if (inList.length > 0 && !inList.includes(value)) {
      report(ctx, path, `${kind}.in`, `${subject} must be one of [${inList.join(", ")}], got ${value}`);
    }
    if (notIn.includes(value)) {
      report(ctx, path, `${kind}.not_in`, `${subject} must not be one of [${notIn.join(", ")}], got ${value}`);
    }
  };
}

interface Bounds<T> {
  readonly lt: T | undefined;
  readonly lte: T | undefined;
  readonly gt: T | undefined;
  readonly gte: T | undefined;
}

/**
 * PGV's lt/lte/gt/gte: one bound alone is a half line; a lower and an upper
 * bound give a range the value must be inside, or, when the upper bound is
 * not above the lower one (`{gt: 10, lt: 5}`), a range it must be outside.
 * A violation of a range is named after the bound the value is on the wrong
 * side of (the lower bound for an exclusive range).
 */
function compileRange<T extends Num>(kind: string, bounds: Bounds<T>, format: (value: T) => string) {
  const upper =
    bounds.lt !== undefined
      ? { value: bounds.lt, inclusive: false, name: "lt" }
      : bounds.lte !== undefined
        ? { value: bounds.lte, inclusive: true, name: "lte" }
        : undefined;
  const lower =
    bounds.gt !== undefined
      ? { value: bounds.gt, inclusive: false, name: "gt" }
      : bounds.gte !== undefined
        ? { value: bounds.gte, inclusive: true, name: "gte" }
        : undefined;
  if (upper === undefined && lower === undefined) return undefined;
  const belowUpper = (value: T) =>
    upper === undefined || (upper.inclusive ? value <= upper.value : value < upper.value);
  const aboveLower = (value: T) =>
    lower === undefined || (lower.inclusive ? value >= lower.value : value > lower.value);
  const check: Check = (raw, path, ctx, subject) => {
    const value = raw as T;
    const got = format(value);
    if (upper !== undefined && lower !== undefined) {
      const low = format(lower.value);
      const high = format(upper.value);
      if (upper.value > lower.value) {
        const bad = !aboveLower(value) ? lower : !belowUpper(value) ? upper : undefined;
        if (bad !== undefined) {
          const range = `${lower.inclusive ? "[" : "("}${low}, ${high}${upper.inclusive ? "]" : ")"}`;
          report(ctx, path, `${kind}.${bad.name}`, `${subject} must be inside the range ${range}, got ${got}`);
        }
      } else if (!belowUpper(value) && !aboveLower(value)) {
        const range = `${upper.inclusive ? "(" : "["}${high}, ${low}${lower.inclusive ? ")" : "]"}`;
        report(ctx, path, `${kind}.${lower.name}`, `${subject} must be outside the range ${range}, got ${got}`);
      }
    } else if (upper !== undefined && !belowUpper(value)) {
      const relation = upper.inclusive ? "less than or equal to" : "less than";
      report(ctx, path, `${kind}.${upper.name}`, `${subject} must be ${relation} ${format(upper.value)}, got ${got}`);
    } else if (lower !== undefined && !aboveLower(value)) {
      const relation = lower.inclusive ? "greater than or equal to" : "greater than";
      report(ctx, path, `${kind}.${lower.name}`, `${subject} must be ${relation} ${format(lower.value)}, got ${got}`);
    }
  };
  return check;
}

function compileBool(rules: BoolRules): Check | undefined {
  const constant = setValue<boolean>(BoolRulesSchema, rules, "const");
  if (constant === undefined) return undefined;
  return (value, path, ctx, subject) => {
    if (value !== constant) report(ctx, path, "bool.const", `${subject} must be ${constant}, got ${value}`);
  };
}

// ---------------------------------------------------------------------------
// Strings

// PGV's well-known header regexes. The name regex's `+-.` is a range (it lets
// "," through), kept as PGV and Envoy have it.
const headerNameStrict = /^:?[0-9a-zA-Z!#$%&'*+-.^_|~`]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the rule excludes
const headerValueStrict = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL, LF and CR are what the rule excludes
const headerLoose = /^[^\u0000\u000A\u000D]*$/;

function compileString(rules: StringRules): Check | undefined {
  const checks: Check[] = [];
  const get = <T>(name: string) => setValue<T>(StringRulesSchema, rules, name);
  const fail = (ctx: Context, path: string, rule: string, message: string) =>
    report(ctx, path, `string.${rule}`, message);

  const constant = get<string>("const");
  if (constant !== undefined) {
    checks.push((value, path, ctx, subject) => {
      if (value !== constant) fail(ctx, path, "const", `${subject} must equal ${show(constant)}, got ${show(value)}`);
    });
  }
  if (rules.in.length > 0) {
    const allowed = new Set(rules.in);
    const list = rules.in.map(show).join(", ");
    checks.push((value, path, ctx, subject) => {
      if (!allowed.has(value as string))
        fail(ctx, path, "in", `${subject} must be one of [${list}], got ${show(value)}`);
    });
  }
  if (rules.notIn.length > 0) {
    const denied = new Set(rules.notIn);
    const list = rules.notIn.map(show).join(", ");
    checks.push((value, path, ctx, subject) => {
      if (denied.has(value as string)) {
        fail(ctx, path, "not_in", `${subject} must not be one of [${list}], got ${show(value)}`);
      }
    });
  }
  // Lengths in characters are Unicode code points, as PGV counts runes.
  pushLength(checks, "string", get<bigint>("len"), get<bigint>("minLen"), get<bigint>("maxLen"), "character", {
    exact: "len",
    min: "min_len",
    max: "max_len",
    measure: (value) => codePointLength(value as string),
  });
  pushLength(checks, "string", get<bigint>("lenBytes"), get<bigint>("minBytes"), get<bigint>("maxBytes"), "byte", {
    exact: "len_bytes",
    min: "min_bytes",
    max: "max_bytes",
    measure: (value) => utf8Length(value as string),
  });
  const prefix = get<string>("prefix");
  if (prefix !== undefined && prefix !== "") {
    checks.push((value, path, ctx, subject) => {
      if (!(value as string).startsWith(prefix)) {
        fail(ctx, path, "prefix", `${subject} must start with ${show(prefix)}, got ${show(value)}`);
      }
    });
  }
  const suffix = get<string>("suffix");
  if (suffix !== undefined && suffix !== "") {
    checks.push((value, path, ctx, subject) => {
      if (!(value as string).endsWith(suffix)) {
        fail(ctx, path, "suffix", `${subject} must end with ${show(suffix)}, got ${show(value)}`);
      }
    });
  }
  const contains = get<string>("contains");
  if (contains !== undefined && contains !== "") {
    checks.push((value, path, ctx, subject) => {
      if (!(value as string).includes(contains)) {
        fail(ctx, path, "contains", `${subject} must contain ${show(contains)}, got ${show(value)}`);
      }
    });
  }
  const notContains = get<string>("notContains");
  if (notContains !== undefined && notContains !== "") {
    checks.push((value, path, ctx, subject) => {
      if ((value as string).includes(notContains)) {
        fail(ctx, path, "not_contains", `${subject} must not contain ${show(notContains)}, got ${show(value)}`);
      }
    });
  }
  const wellKnown = compileWellKnownString(rules);
  if (wellKnown !== undefined) checks.push(wellKnown);
  const pattern = get<string>("pattern");
  if (pattern !== undefined && pattern !== "") {
    const regex = compilePattern(pattern);
    if (regex !== undefined) {
      checks.push((value, path, ctx, subject) => {
        if (!regex.test(value as string)) {
          fail(
            ctx,
            path,
            "pattern",
            `${subject} must match the regular expression ${show(pattern)}, got ${show(value)}`,
          );
        }
      });
    }
  }
  const check = all(checks);
  if (check === undefined || !rules.ignoreEmpty) return check;
  return (value, path, ctx, subject) => {
    if (value !== "") check(value, path, ctx, subject);
  };
}

function compileWellKnownString(rules: StringRules): Check | undefined {
  const wellKnown = rules.wellKnown;
  if (wellKnown.case === undefined || wellKnown.value === false) return undefined;
  const simple = (rule: string, what: string, test: (value: string) => boolean): Check => {
    return (value, path, ctx, subject) => {
      if (!test(value as string)) report(ctx, path, `string.${rule}`, `${subject} must be ${what}, got ${show(value)}`);
    };
  };
  switch (wellKnown.case) {
    case "email":
      return simple("email", "a valid email address", isEmail);
    case "hostname":
      return simple("hostname", "a valid hostname", isHostname);
    case "ip":
      return simple("ip", "a valid IP address", (value) => isIpv4(value) || isIpv6(value));
    case "ipv4":
      return simple("ipv4", "a valid IPv4 address", isIpv4);
    case "ipv6":
      return simple("ipv6", "a valid IPv6 address", isIpv6);
    case "uri":
      return simple("uri", "an absolute URI", (value) => isUri(value, true));
    case "uriRef":
      return simple("uri_ref", "a valid URI reference", (value) => isUri(value, false));
    case "address":
      return simple("address", "a hostname or an IP address", (v) => isHostname(v) || isIpv4(v) || isIpv6(v));
    case "uuid":
      return simple("uuid", "a UUID", (value) => uuid.test(value));
    case "wellKnownRegex": {
      // strict is a proto2 field that defaults to true.
      const strict = rules.strict;
      const name = wellKnown.value === KnownRegex.HTTP_HEADER_NAME;
      if (!name && wellKnown.value !== KnownRegex.HTTP_HEADER_VALUE) return undefined;
      const regex = strict ? (name ? headerNameStrict : headerValueStrict) : headerLoose;
      const what = `a valid HTTP header ${name ? "name" : "value"}${strict ? " (RFC 7230)" : " (no NUL, CR or LF)"}`;
      return simple("well_known_regex", what, (value) => regex.test(value));
    }
  }
}

/**
 * Compiles an RE2 pattern for JavaScript, matched against the whole value as
 * Envoy's C++ validators do (RE2::FullMatch). RE2 and JS regexes differ in
 * corners (JS has lookarounds and backreferences RE2 rejects; RE2 has `\z`,
 * `\A`, inline flags and POSIX classes): leading inline flags, `\A` and `\z`
 * are translated, and Envoy's patterns use nothing else that differs. A
 * pattern JS cannot compile is not checked rather than failing every value.
 */
function compilePattern(pattern: string): RegExp | undefined {
  let source = pattern;
  let flags = "";
  const inline = /^\(\?([imsU]+)\)/.exec(source);
  if (inline?.[1] !== undefined && !inline[1].includes("U")) {
    flags = inline[1];
    source = source.slice(inline[0].length);
  }
  source = source
    .replace(/(?<!\\)((?:\\\\)*)\\A/g, "$1(?<![\\s\\S])")
    .replace(/(?<!\\)((?:\\\\)*)\\z/g, "$1(?![\\s\\S])");
  // Anchors that hold under the m flag too, so that a full match is required.
  const whole = `(?<![\\s\\S])(?:${source})(?![\\s\\S])`;
  for (const extra of ["u", ""]) {
    try {
      return new RegExp(whole, flags + extra);
    } catch {
      // try without the u flag: it rejects escapes RE2 accepts (like \-)
    }
  }
  return undefined;
}

function codePointLength(value: string): number {
  let count = value.length;
  for (let i = 1; i < value.length; i++) {
    const code = value.charCodeAt(i);
    // A low surrogate after a high one is the second half of one code point.
    if (code >= 0xdc00 && code <= 0xdfff) {
      const previous = value.charCodeAt(i - 1);
      if (previous >= 0xd800 && previous <= 0xdbff) count--;
    }
  }
  return count;
}

function utf8Length(value: string): number {
  let bytes = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else {
        bytes += 3;
      }
    } else bytes += 3; // BMP character, or a lone surrogate encoded as U+FFFD
  }
  return bytes;
}

interface LengthRules {
  readonly exact: string;
  readonly min: string;
  readonly max: string;
  readonly measure: (value: unknown) => number;
}

function pushLength(
  checks: Check[],
  kind: string,
  exact: bigint | undefined,
  min: bigint | undefined,
  max: bigint | undefined,
  unit: string,
  rules: LengthRules,
): void {
  if (exact === undefined && min === undefined && max === undefined) return;
  checks.push((value, path, ctx, subject) => {
    const length = BigInt(rules.measure(value));
    const got = `got ${show(value)} (${plural(length, unit)})`;
    if (exact !== undefined && length !== exact) {
      report(ctx, path, `${kind}.${rules.exact}`, `${subject} must be exactly ${plural(exact, unit)} long, ${got}`);
    }
    if (min !== undefined && length < min) {
      report(ctx, path, `${kind}.${rules.min}`, `${subject} must be at least ${plural(min, unit)} long, ${got}`);
    }
    if (max !== undefined && length > max) {
      report(ctx, path, `${kind}.${rules.max}`, `${subject} must be at most ${plural(max, unit)} long, ${got}`);
    }
  });
}

/** Hostname as PGV checks it: up to 253 characters of dot-separated LDH labels; one trailing dot allowed. */
function isHostname(value: string): boolean {
  if (value.length > 253) return false;
  const host = value.endsWith(".") ? value.slice(0, -1) : value;
  for (const label of host.split(".")) {
    if (label.length === 0 || label.length > 63) return false;
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/.test(label)) return false;
  }
  return true;
}

/** Dotted-quad IPv4 as inet_pton reads it: four decimal octets, no leading zeros. */
function isIpv4(value: string): boolean {
  const parts = value.split(".");
  return parts.length === 4 && parts.every((part) => /^(?:0|[1-9][0-9]{0,2})$/.test(part) && Number(part) <= 255);
}

/** IPv6 as inet_pton reads it: eight hex groups, one `::`, an optional trailing IPv4; no zone. */
function isIpv6(value: string): boolean {
  let text = value;
  const lastColon = text.lastIndexOf(":");
  if (lastColon < 0) return false;
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    if (!isIpv4(tail)) return false;
    text = `${text.slice(0, lastColon + 1)}0:0`; // the IPv4 address takes two groups
  }
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groups = (half: string) => (half === "" ? [] : half.split(":"));
  const all = [...groups(halves[0] ?? ""), ...groups(halves[1] ?? "")];
  if (!all.every((group) => /^[0-9A-Fa-f]{1,4}$/.test(group))) return false;
  return halves.length === 2 ? all.length <= 7 : all.length === 8;
}

const emailLocal = /^(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*|"(?:[^"\\\r\n]|\\.)*")$/;

/** Email as PGV checks it: an RFC 5322 address (optionally `Name <addr>`), local part ≤ 64, domain a hostname. */
function isEmail(value: string): boolean {
  const angle = /^[^<>]*<([^<>]*)>$/.exec(value.trim());
  const address = angle?.[1] ?? value;
  if (address.length > 254) return false;
  const at = address.lastIndexOf("@");
  if (at <= 0) return false;
  const local = address.slice(0, at);
  return local.length <= 64 && emailLocal.test(local) && isHostname(address.slice(at + 1));
}

// RFC 3986: unreserved, reserved and percent-encoded characters only.
const uriCharacters = /^(?:[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/;
const uriScheme = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/** RFC 3986 URI (`absolute`: with a scheme) or URI reference. */
function isUri(value: string, absolute: boolean): boolean {
  if (!uriCharacters.test(value)) return false;
  if ((value.match(/#/g)?.length ?? 0) > 1) return false;
  return !absolute || uriScheme.test(value);
}

const uuid = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

// ---------------------------------------------------------------------------
// Bytes

function compileBytes(rules: BytesRules): Check | undefined {
  const checks: Check[] = [];
  const get = <T>(name: string) => setValue<T>(BytesRulesSchema, rules, name);
  const fail = (ctx: Context, path: string, rule: string, message: string) =>
    report(ctx, path, `bytes.${rule}`, message);
  const constant = get<Uint8Array>("const");
  if (constant !== undefined) {
    checks.push((value, path, ctx, subject) => {
      if (!bytesEqual(value as Uint8Array, constant)) {
        fail(ctx, path, "const", `${subject} must equal ${show(constant)}, got ${show(value)}`);
      }
    });
  }
  if (rules.in.length > 0) {
    const allowed = new Set(rules.in.map(hex));
    const list = rules.in.map(show).join(", ");
    checks.push((value, path, ctx, subject) => {
      if (!allowed.has(hex(value as Uint8Array))) {
        fail(ctx, path, "in", `${subject} must be one of [${list}], got ${show(value)}`);
      }
    });
  }
  if (rules.notIn.length > 0) {
    const denied = new Set(rules.notIn.map(hex));
    const list = rules.notIn.map(show).join(", ");
    checks.push((value, path, ctx, subject) => {
      if (denied.has(hex(value as Uint8Array))) {
        fail(ctx, path, "not_in", `${subject} must not be one of [${list}], got ${show(value)}`);
      }
    });
  }
  pushLength(checks, "bytes", get<bigint>("len"), get<bigint>("minLen"), get<bigint>("maxLen"), "byte", {
    exact: "len",
    min: "min_len",
    max: "max_len",
    measure: (value) => (value as Uint8Array).length,
  });
  const pattern = get<string>("pattern");
  if (pattern !== undefined && pattern !== "") {
    const regex = compilePattern(pattern);
    if (regex !== undefined) {
      // RE2 matches bytes as UTF-8; invalid sequences become U+FFFD here.
      const decoder = new TextDecoder();
      checks.push((value, path, ctx, subject) => {
        if (!regex.test(decoder.decode(value as Uint8Array))) {
          fail(
            ctx,
            path,
            "pattern",
            `${subject} must match the regular expression ${show(pattern)}, got ${show(value)}`,
          );
        }
      });
    }
  }
  const affixes: [string, Uint8Array | undefined, string, (value: Uint8Array, part: Uint8Array) => boolean][] = [
    ["prefix", get<Uint8Array>("prefix"), "start with", (value, part) => indexOfBytes(value, part, 0) === 0],
    [
      "suffix",
      get<Uint8Array>("suffix"),
      "end with",
      (value, part) => value.length >= part.length && indexOfBytes(value, part, value.length - part.length) >= 0,
    ],
    ["contains", get<Uint8Array>("contains"), "contain", (value, part) => indexOfBytes(value, part, 0) >= 0],
  ];
  for (const [rule, part, verb, test] of affixes) {
    if (part === undefined || part.length === 0) continue;
    checks.push((value, path, ctx, subject) => {
      if (!test(value as Uint8Array, part)) {
        fail(ctx, path, rule, `${subject} must ${verb} ${show(part)}, got ${show(value)}`);
      }
    });
  }
  const wellKnown = rules.wellKnown;
  if (wellKnown.case !== undefined && wellKnown.value) {
    const sizes = wellKnown.case === "ip" ? [4, 16] : wellKnown.case === "ipv4" ? [4] : [16];
    const what =
      wellKnown.case === "ip" ? "an IP address" : wellKnown.case === "ipv4" ? "an IPv4 address" : "an IPv6 address";
    checks.push((value, path, ctx, subject) => {
      if (!sizes.includes((value as Uint8Array).length)) {
        fail(ctx, path, wellKnown.case, `${subject} must be ${what} in network byte order, got ${show(value)}`);
      }
    });
  }
  const check = all(checks);
  // ignore_empty (14) is newer than the validate.proto this build compiles against.
  if (check === undefined || unknownFlag(rules, 14) !== true) return check;
  return (value, path, ctx, subject) => {
    if ((value as Uint8Array).length > 0) check(value, path, ctx, subject);
  };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && indexOfBytes(a, b, 0) === 0;
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function hex(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}

// ---------------------------------------------------------------------------
// Enums, Any, Duration, Timestamp

function compileEnum(rules: EnumRules, schema: DescEnum): Check | undefined {
  const constant = setValue<number>(EnumRulesSchema, rules, "const");
  const defined = new Set(schema.values.map((value) => value.number));
  const name = (number: number) => {
    const value = schema.value[number];
    return value === undefined ? String(number) : `${value.name} (${number})`;
  };
  if (constant === undefined && !rules.definedOnly && rules.in.length === 0 && rules.notIn.length === 0) {
    return undefined;
  }
  const inList = rules.in.map(name).join(", ");
  const notInList = rules.notIn.map(name).join(", ");
  return (raw, path, ctx, subject) => {
    const value = raw as number;
    if (constant !== undefined && value !== constant) {
      report(ctx, path, "enum.const", `${subject} must be ${name(constant)}, got ${name(value)}`);
    }
    if (rules.definedOnly && !defined.has(value)) {
      report(
        ctx,
        path,
        "enum.defined_only",
        `${subject} must be a value defined by ${schema.typeName}, got ${value}, which it does not define`,
      );
    }
    if (rules.in.length > 0 && !rules.in.includes(value)) {
      report(ctx, path, "enum.in", `${subject} must be one of [${inList}], got ${name(value)}`);
    }
    if (rules.notIn.includes(value)) {
      report(ctx, path, "enum.not_in", `${subject} must not be one of [${notInList}], got ${name(value)}`);
    }
  };
}

function compileAny(rules: AnyRules): Check | undefined {
  const checks: Check[] = [];
  if (rules.in.length > 0) {
    const allowed = new Set(rules.in);
    checks.push((value, path, ctx, subject) => {
      const typeUrl = (value as Any).typeUrl;
      if (!allowed.has(typeUrl)) {
        report(
          ctx,
          path,
          "any.in",
          `${subject} must hold one of the types [${rules.in.join(", ")}], got ${show(typeUrl)}`,
        );
      }
    });
  }
  if (rules.notIn.length > 0) {
    const denied = new Set(rules.notIn);
    checks.push((value, path, ctx, subject) => {
      const typeUrl = (value as Any).typeUrl;
      if (denied.has(typeUrl)) {
        report(
          ctx,
          path,
          "any.not_in",
          `${subject} must not hold any of the types [${rules.notIn.join(", ")}], got ${show(typeUrl)}`,
        );
      }
    });
  }
  return all(checks);
}

const nanosPerSecond = 1_000_000_000n;

function nanosOf(value: Duration | Timestamp): bigint {
  return BigInt(value.seconds) * nanosPerSecond + BigInt(value.nanos);
}

/** A duration as protobuf JSON writes it: "1.5s", "-0.000000001s". */
function formatDuration(nanos: bigint): string {
  const negative = nanos < 0n;
  const abs = negative ? -nanos : nanos;
  const fraction = (abs % nanosPerSecond).toString().padStart(9, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${abs / nanosPerSecond}${fraction === "" ? "" : `.${fraction}`}s`;
}

function formatTimestamp(nanos: bigint): string {
  const millis = Number(nanos / 1_000_000n);
  const date = new Date(millis);
  return Number.isNaN(date.getTime()) ? `${nanos}ns since the epoch` : date.toISOString();
}

function compileDuration(rules: DurationRules): Check | undefined {
  const get = (name: string) => {
    const value = setValue<Duration>(DurationRulesSchema, rules, name);
    return value === undefined ? undefined : nanosOf(value);
  };
  const checks: Check[] = [];
  const constant = get("const");
  if (constant !== undefined) {
    checks.push((value, path, ctx, subject) => {
      if (value !== constant) {
        report(
          ctx,
          path,
          "duration.const",
          `${subject} must be ${formatDuration(constant)}, got ${formatDuration(value as bigint)}`,
        );
      }
    });
  }
  const range = compileRange<bigint>(
    "duration",
    { lt: get("lt"), lte: get("lte"), gt: get("gt"), gte: get("gte") },
    formatDuration,
  );
  if (range !== undefined) checks.push(range);
  if (rules.in.length > 0) {
    const allowed = rules.in.map(nanosOf);
    const list = allowed.map(formatDuration).join(", ");
    checks.push((value, path, ctx, subject) => {
      if (!allowed.includes(value as bigint)) {
        report(ctx, path, "duration.in", `${subject} must be one of [${list}], got ${formatDuration(value as bigint)}`);
      }
    });
  }
  if (rules.notIn.length > 0) {
    const denied = rules.notIn.map(nanosOf);
    const list = denied.map(formatDuration).join(", ");
    checks.push((value, path, ctx, subject) => {
      if (denied.includes(value as bigint)) {
        report(
          ctx,
          path,
          "duration.not_in",
          `${subject} must not be one of [${list}], got ${formatDuration(value as bigint)}`,
        );
      }
    });
  }
  const check = all(checks);
  if (check === undefined) return undefined;
  return (value, path, ctx, subject) => check(nanosOf(value as Duration), path, ctx, subject);
}

function compileTimestamp(rules: TimestampRules): Check | undefined {
  const get = (name: string) => {
    const value = setValue<Timestamp>(TimestampRulesSchema, rules, name);
    return value === undefined ? undefined : nanosOf(value);
  };
  const checks: Check[] = [];
  const constant = get("const");
  if (constant !== undefined) {
    checks.push((value, path, ctx, subject) => {
      if (value !== constant) {
        report(
          ctx,
          path,
          "timestamp.const",
          `${subject} must be ${formatTimestamp(constant)}, got ${formatTimestamp(value as bigint)}`,
        );
      }
    });
  }
  const range = compileRange<bigint>(
    "timestamp",
    { lt: get("lt"), lte: get("lte"), gt: get("gt"), gte: get("gte") },
    formatTimestamp,
  );
  if (range !== undefined) checks.push(range);
  const within = setValue<Duration>(TimestampRulesSchema, rules, "within");
  const withinNanos = within === undefined ? undefined : nanosOf(within);
  if (rules.ltNow || rules.gtNow || withinNanos !== undefined) {
    checks.push((raw, path, ctx, subject) => {
      const value = raw as bigint;
      const now = ctx.nowNanos;
      const got = formatTimestamp(value);
      const window = withinNanos === undefined ? "" : ` and within ${formatDuration(withinNanos)} of it`;
      if (rules.ltNow) {
        if (value >= now) report(ctx, path, "timestamp.lt_now", `${subject} must be before now${window}, got ${got}`);
        else if (withinNanos !== undefined && value < now - withinNanos) {
          report(ctx, path, "timestamp.within", `${subject} must be before now${window}, got ${got}`);
        }
      } else if (rules.gtNow) {
        if (value <= now) report(ctx, path, "timestamp.gt_now", `${subject} must be after now${window}, got ${got}`);
        else if (withinNanos !== undefined && value > now + withinNanos) {
          report(ctx, path, "timestamp.within", `${subject} must be after now${window}, got ${got}`);
        }
      } else if (withinNanos !== undefined && (value < now - withinNanos || value > now + withinNanos)) {
        report(
          ctx,
          path,
          "timestamp.within",
          `${subject} must be within ${formatDuration(withinNanos)} of now, got ${got}`,
        );
      }
    });
  }
  const check = all(checks);
  if (check === undefined) return undefined;
  return (value, path, ctx, subject) => check(nanosOf(value as Timestamp), path, ctx, subject);
}

// ---------------------------------------------------------------------------
// Helpers

/** The value of a rules field when it is set (validate.proto is proto2: unset fields read as defaults). */
function setValue<T>(schema: DescMessage, message: Message, localName: string): T | undefined {
  const field = schema.field[localName];
  if (field === undefined || !isFieldSet(message, field)) return undefined;
  return (message as unknown as Record<string, T>)[localName];
}

/**
 * A bool field this build's validate.proto does not declare, read from the
 * unknown fields protobuf-es keeps: options written against a newer
 * validate.proto (ignore_empty on numbers, bytes, repeated and maps;
 * `validate.ignored`) still take effect.
 */
function unknownFlag(message: Message, fieldNo: number): boolean | undefined {
  let flag: boolean | undefined;
  for (const field of message.$unknown ?? []) {
    if (field.no === fieldNo && field.wireType === 0) flag = field.data.some((byte) => (byte & 0x7f) !== 0);
  }
  return flag;
}

function join(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

function formatKey(scalar: ScalarType, key: string): string {
  return scalar === ScalarType.STRING ? JSON.stringify(key) : key;
}

/** A map key as the value its rules expect (protobuf-es keeps keys as object property names). */
function mapKeyValue(scalar: ScalarType, key: string): unknown {
  switch (scalar) {
    case ScalarType.STRING:
      return key;
    case ScalarType.BOOL:
      return key === "true";
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return BigInt(key);
    default:
      return Number(key);
  }
}

function plural(count: number | bigint, unit: string): string {
  return `${count} ${Number(count) === 1 ? unit : unit === "entry" ? "entries" : `${unit}s`}`;
}

/** A value for a message: strings quoted and shortened, bytes in hex. */
function show(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  }
  if (value instanceof Uint8Array) {
    const shown = hex(value.subarray(0, 32));
    return `0x${shown}${value.length > 32 ? "…" : ""} (${plural(value.length, "byte")})`;
  }
  return String(value);
}
