import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GrpcStatus, grpcStatusOf, XdsError, XdsErrorCode } from "@nebucloud/xds-core";

describe("XdsError", () => {
  it("carries its code", () => {
    assert.equal(new XdsError("node_not_found", "no snapshot").code, "node_not_found");
  });

  it("prefixes its message with the code and keeps the raw message", () => {
    const error = new XdsError("node_not_found", "no snapshot for node a");
    assert.equal(error.message, "[node_not_found] no snapshot for node a");
    assert.equal(error.rawMessage, "no snapshot for node a");
  });

  it("is named XdsError", () => {
    assert.equal(new XdsError("internal", "x").name, "XdsError");
  });

  it("carries the details it was given", () => {
    const error = new XdsError("resource_not_found", "missing", { typeUrl: "t", names: ["a", "b"] });
    assert.deepEqual(error.details, { typeUrl: "t", names: ["a", "b"] });
  });

  it("has empty details when given none", () => {
    assert.deepEqual(new XdsError("internal", "x").details, {});
  });

  it("carries the cause it was given", () => {
    const cause = new Error("root");
    assert.equal(new XdsError("internal", "x", {}, { cause }).cause, cause);
  });

  it("has no cause when given none", () => {
    assert.ok(!("cause" in new XdsError("internal", "x")));
  });

  it("is an Error", () => {
    assert.ok(new XdsError("internal", "x") instanceof Error);
  });

  it("is recognised by instanceof when the brand comes from a duplicate copy of the class", () => {
    const foreign = Object.assign(new Error("[internal] x"), { code: "internal" });
    Object.defineProperty(foreign, Symbol.for("@nebucloud/xds-core/XdsError"), { value: true });
    assert.ok(foreign instanceof XdsError);
  });

  it("is not recognised by instanceof for an Error without the brand", () => {
    assert.ok(!(new Error("x") instanceof XdsError));
  });

  it("is not recognised by instanceof for null, a string or an object whose brand is not true", () => {
    assert.ok(!((null as unknown) instanceof XdsError));
    assert.ok(!(("XdsError" as unknown) instanceof XdsError));
    assert.ok(!({ [Symbol.for("@nebucloud/xds-core/XdsError")]: "yes" } instanceof XdsError));
  });

  it("reports the gRPC status of its code", () => {
    assert.equal(new XdsError("unknown_type", "x").grpcStatus, GrpcStatus.InvalidArgument);
  });
});

describe("XdsError.from", () => {
  it("returns an XdsError as is", () => {
    const error = new XdsError("node_not_found", "x");
    assert.equal(XdsError.from(error, "internal"), error);
  });

  it("returns an object carrying the brand of a duplicate class as is", () => {
    const foreign = { [Symbol.for("@nebucloud/xds-core/XdsError")]: true, code: "channel_closed" };
    assert.equal(XdsError.from(foreign), foreign);
  });

  it("wraps an Error as internal, keeping its message and the Error as cause", () => {
    const cause = new Error("boom");
    const error = XdsError.from(cause);
    assert.ok(error instanceof XdsError);
    assert.equal(error.code, "internal");
    assert.equal(error.rawMessage, "boom");
    assert.equal(error.cause, cause);
  });

  it("wraps an Error with the code it is given", () => {
    assert.equal(XdsError.from(new Error("bad"), "invalid_request").code, "invalid_request");
  });

  it("wraps a string as internal, with the string as message and cause", () => {
    const error = XdsError.from("went wrong");
    assert.equal(error.code, "internal");
    assert.equal(error.rawMessage, "went wrong");
    assert.equal(error.cause, "went wrong");
  });

  it("wraps any other value by its string form", () => {
    assert.equal(XdsError.from(42).rawMessage, "42");
  });
});

describe("grpcStatusOf", () => {
  const expected: Record<XdsErrorCode, number> = {
    resource_not_found: 5,
    version_up_to_date: 9,
    node_not_found: 5,
    watch_limit_exceeded: 8,
    channel_closed: 14,
    serialization: 13,
    deserialization: 3,
    invalid_config: 3,
    invalid_request: 3,
    unknown_type: 3,
    permission_denied: 7,
    resource_exhausted: 8,
    internal: 13,
  };

  it("maps unknown_type to InvalidArgument (3)", () => {
    assert.equal(grpcStatusOf("unknown_type"), 3);
  });

  it("maps node_not_found to NotFound (5)", () => {
    assert.equal(grpcStatusOf("node_not_found"), 5);
  });

  it("maps watch_limit_exceeded to ResourceExhausted (8)", () => {
    assert.equal(grpcStatusOf("watch_limit_exceeded"), 8);
  });

  it("maps every code to a gRPC status", () => {
    for (const code of Object.values(XdsErrorCode)) {
      assert.equal(grpcStatusOf(code), expected[code], code);
    }
  });
});
