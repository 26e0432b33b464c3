//! SD card behaviour the fuzz targets found wrong (tests/fuzz/corpus/sdcard/).

use pybsim_peripherals::sdcard::{Response, SdCard, State, OCR_READY, RCA};
use pybsim_peripherals::testing::PYBOARD as C;

/// CMD0, CMD8, ACMD41 until ready, CMD2, CMD3, CMD7: the transfer state.
fn to_tran(card: &mut SdCard) {
    card.command(0, &C, 0, 0);
    card.command(0, &C, 8, 0x1AA);
    let mut t = 0;
    loop {
        card.command(t, &C, 55, 0);
        match card.command(t, &C, 41, 0x40FF_8000) {
            Some(Response::R3(ocr)) if ocr & OCR_READY != 0 => break,
            Some(Response::R3(_)) => t += 168_000,
            other => panic!("ACMD41 answered {other:?}"),
        }
    }
    assert!(matches!(card.command(t, &C, 2, 0), Some(Response::R2(_))));
    assert!(matches!(card.command(t, &C, 3, 0), Some(Response::R6(_))));
    card.command(t, &C, 7, u32::from(RCA) << 16);
    assert_eq!(card.state(), State::Tran);
}

#[test]
fn an_inactive_card_sends_no_data() {
    // Found by fuzzing: ACMD51 (the SCR is to be sent), CMD15, then the host reads: the
    // card sent the SCR and went back to the transfer state, out of the inactive state
    // that only a power cycle leaves (SD Physical Layer spec §4.7.4, §4.8).
    let mut card = SdCard::new(vec![0; 512]).unwrap();
    to_tran(&mut card);
    card.command(0, &C, 55, u32::from(RCA) << 16);
    assert!(matches!(card.command(0, &C, 51, 0), Some(Response::R1(_))));
    assert_eq!(card.state(), State::Data);
    assert_eq!(card.command(0, &C, 15, u32::from(RCA) << 16), None);
    assert_eq!(card.state(), State::Ina);
    assert!(!card.sending());
    assert_eq!(card.read_block(), None);
    assert_eq!(card.state(), State::Ina);
    assert!(!card.write_block(&[0; 512]));
    assert_eq!(card.command(0, &C, 0, 0), None);
    assert_eq!(card.state(), State::Ina, "not even CMD0 wakes it");
}

#[test]
fn cmd15_is_addressed() {
    // CMD15 carries the RCA: a card that is not addressed stays as it is.
    let mut card = SdCard::new(vec![0; 512]).unwrap();
    to_tran(&mut card);
    assert_eq!(card.command(0, &C, 15, 0x1234 << 16), None);
    assert_eq!(card.state(), State::Tran);
    // Before the card has an address (idle, ready, ident) CMD15 is illegal: the card
    // ignores it and reports ILLEGAL_COMMAND with the next response.
    let mut card = SdCard::new(vec![0; 512]).unwrap();
    assert_eq!(card.command(0, &C, 15, 0), None);
    assert_eq!(card.state(), State::Idle);
}

#[test]
fn a_deselected_card_sends_no_data() {
    // Found by fuzzing: ACMD13 (the SD status is to be sent), CMD7 to another card
    // (deselected: stby), then the host reads: the card sent the status from stby and
    // jumped to the transfer state.
    let mut card = SdCard::new(vec![0; 512]).unwrap();
    to_tran(&mut card);
    card.command(0, &C, 55, u32::from(RCA) << 16);
    assert!(matches!(card.command(0, &C, 13, 0), Some(Response::R1(_))));
    assert_eq!(card.state(), State::Data);
    assert_eq!(card.command(0, &C, 7, 0), None);
    assert_eq!(card.state(), State::Stby);
    assert!(!card.sending());
    assert_eq!(card.read_block(), None);
    assert_eq!(card.state(), State::Stby);
    // Selected again, it has nothing left to send.
    assert!(matches!(
        card.command(0, &C, 7, u32::from(RCA) << 16),
        Some(Response::R1(_))
    ));
    assert_eq!(card.state(), State::Tran);
    assert_eq!(card.read_block(), None);
}

#[test]
fn power_up_near_the_end_of_time_still_takes_its_time() {
    // Found by fuzzing (dev profile: "attempt to add with overflow"): the power-up end
    // was `start + 10 ms`, which wrapped for a start near 2^64 cycles, so the card was
    // ready at once (release) or panicked (debug).
    let mut card = SdCard::new(vec![0; 512]).unwrap();
    let t = u64::MAX - 1000;
    card.command(t, &C, 0, 0);
    card.command(t, &C, 55, 0);
    match card.command(t, &C, 41, 0x40FF_8000) {
        Some(Response::R3(ocr)) => assert_eq!(ocr & OCR_READY, 0, "still busy"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_sdio_host_near_the_end_of_time_does_not_wrap() {
    // Found by fuzzing: a command's end was scheduled at `now + duration`, which wrapped
    // near 2^64 cycles to a time long past, so the response came at once.
    use pybsim_peripherals::sdio::{self, Sdio};
    use pybsim_peripherals::testing::FakeBus;
    let mut host = Sdio::new("SDIO");
    host.insert(SdCard::new(vec![0; 512]).unwrap());
    let mut b = FakeBus::new(host, C);
    b.now = u64::MAX - 100;
    b.write32(sdio::POWER, 3);
    b.write32(sdio::CLKCR, sdio::CLKEN | 0x76);
    b.write32(sdio::ARG, 0);
    b.write32(sdio::CMD, sdio::CPSMEN); // CMD0, no response
    b.advance(1);
    assert_eq!(
        b.read32(sdio::STA) & sdio::sta::CMDSENT,
        0,
        "a command takes 48 SDIO_CK periods"
    );
}
