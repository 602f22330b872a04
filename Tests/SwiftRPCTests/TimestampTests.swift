import SwiftRPC
import Testing

@Suite("Timestamps")
struct TimestampTests {
    @Test(arguments: [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1_795_000_000.25, "2026-11-18T11:06:40.250Z"),
        (951_782_400.5, "2000-02-29T00:00:00.500Z"),
        (253_402_300_799.75, "9999-12-31T23:59:59.750Z"),
        (4_102_444_800.0005, "2100-01-01T00:00:00.000Z"),
    ])
    func iso8601IsUTCWithMilliseconds(seconds: Double, text: String) {
        #expect(Timestamp.iso8601(seconds) == text)
    }

    @Test func aTimeBeyondFourDigitYearsIsClampedNotACrash() {
        #expect(Timestamp.iso8601(253_402_300_800).hasPrefix("9999-01-01T"))  // year 10000
        #expect(Timestamp.iso8601(-62_198_755_200).count == 24)  // year -1
    }

    @Test func nowOrdersAsText() {
        let earlier = Timestamp.iso8601()
        let later = Timestamp.iso8601(Timestamp.now() + 1)
        #expect(earlier < later)
    }

    @Test func aWrittenTimeReadsBack() {
        for seconds in [0, 1_763_805_600.123, 951_782_400.5, 4_102_444_799.999] {
            #expect(Timestamp.seconds(fromISO8601: Timestamp.iso8601(seconds)).map { abs($0 - seconds) < 0.001 } == true)
        }
        for text in ["", "2026-11-22T10:00:00Z", "2026-11-22 10:00:00.123Z", "2026-11-22T10:00:0x.123Z", "2026-11-22T10:00:00.123+"] {
            #expect(Timestamp.seconds(fromISO8601: text) == nil)
        }
    }
}
