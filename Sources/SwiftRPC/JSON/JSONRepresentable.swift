/// A Swift value a registered function may return; it becomes the JSON of the answer.
public protocol JSONRepresentable: Sendable {
    var jsonValue: JSONValue { get }
}

extension JSONValue: JSONRepresentable {
    public var jsonValue: JSONValue { self }
}

extension String: JSONRepresentable {
    public var jsonValue: JSONValue { .string(self) }
}

extension Int: JSONRepresentable {
    public var jsonValue: JSONValue { .int(self) }
}

extension Double: JSONRepresentable {
    public var jsonValue: JSONValue { .double(self) }
}

extension Bool: JSONRepresentable {
    public var jsonValue: JSONValue { .bool(self) }
}

extension Optional: JSONRepresentable where Wrapped: JSONRepresentable {
    public var jsonValue: JSONValue { self?.jsonValue ?? .null }
}

extension Array: JSONRepresentable where Element: JSONRepresentable {
    public var jsonValue: JSONValue { .array(map(\.jsonValue)) }
}

extension Dictionary: JSONRepresentable where Key == String, Value: JSONRepresentable {
    /// Keys are written in sorted order, so the answer is stable.
    public var jsonValue: JSONValue {
        .object(JSONObject(sorted(by: { $0.key < $1.key }).map { ($0.key, $0.value.jsonValue) }))
    }
}
