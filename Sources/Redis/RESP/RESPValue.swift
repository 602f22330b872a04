/// One Redis reply (RESP2). Bulk strings are UTF-8 text: SwiftRPC stores no binary values.
public enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    case error(String)
    case integer(Int)
    case bulkString(String)
    case null
    case array([RESPValue])

    /// The text of a simple or bulk string; `nil` otherwise.
    public var string: String? {
        switch self {
        case .simpleString(let text), .bulkString(let text): text
        default: nil
        }
    }

    public var int: Int? {
        switch self {
        case .integer(let number): number
        case .bulkString(let text), .simpleString(let text): Int(text)
        default: nil
        }
    }

    public var array: [RESPValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// An array of alternating names and values (HGETALL) as a dictionary.
    public var fields: [String: String]? {
        guard let elements = array else { return nil }
        var result: [String: String] = [:]
        var index = 0
        while index + 1 < elements.count {
            if let name = elements[index].string, let value = elements[index + 1].string { result[name] = value }
            index += 2
        }
        return result
    }
}
